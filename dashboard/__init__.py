"""Multi-stakeholder recommender-system metrics dashboard."""
