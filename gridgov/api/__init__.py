"""FastAPI gateway: department and community actions, and Open311 GeoReport v2."""
