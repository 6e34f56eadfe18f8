"""The adjusted comparison of modalities (issue 24 §3): model fits the worker makes and stores,
and pages and the API read. The one part of the analytics not computed in SQL per request."""
