"""The web endpoints: the aiohttp application (app), its guarded listener (server),
TLS and Basic authentication (config: ``--web.config.file``; auth) and the /status
page (status).
"""
