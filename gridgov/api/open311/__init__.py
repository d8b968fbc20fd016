"""Open311 GeoReport v2: services, requests, tokens in JSON and XML."""
