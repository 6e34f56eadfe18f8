"""The domain: business rules shared by the API, the pages and the worker. No flask imports."""
