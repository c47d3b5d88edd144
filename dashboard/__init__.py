"""The FPS back office: a Streamlit app (`streamlit run dashboard/serve.py`) over `fpscore.merchant`.

`app.py` signs staff in and builds the page list for their role; `pages/*.py` are the pages; this package
holds what they share: cached resources, identity, confirmed actions and display helpers. Nothing here
reads a database directly: reads go through `fpscore.merchant.queries`, writes through the flows.
"""
