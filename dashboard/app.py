"""Entry point: `streamlit run dashboard/app.py [-- --data SOURCE]`. Only sets up and routes."""
import streamlit as st

from dashboard.ui import session

st.set_page_config(page_title="Recommendations: buyers, sellers, business", page_icon=":material/insights:",
                   layout="wide")

PAGES = [
    st.Page("views/weekly_review.py", title="Weekly review", icon=":material/event_note:", default=True),
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:"),
    st.Page("views/buyers.py", title="Buyers", icon=":material/shopping_cart:"),
    st.Page("views/sellers.py", title="Sellers", icon=":material/storefront:"),
    st.Page("views/business.py", title="Business", icon=":material/payments:"),
    st.Page("views/offline_online.py", title="Offline ↔ Online", icon=":material/compare_arrows:"),
    st.Page("views/experiments.py", title="Experiments", icon=":material/science:"),
    st.Page("views/data.py", title="Data", icon=":material/database:"),
]

page = st.navigation(PAGES)
session.start()
page.run()
