"""The recommendations HTTP API and the web page: routes, the service behind them, the API Gateway
translation, the WSGI app and the cheroot server (pue serve)."""
