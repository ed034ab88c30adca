"""The web endpoints: the aiohttp application (app), its guarded listener (server),
TLS and Basic authentication (config: ``--web.config.file``; auth), the /status page
(status), who may see what (access, scoped: roles and a provider's view) and the provider
portal's outages and disputes (portal).
"""
