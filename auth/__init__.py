"""OAuth2 for the store: the authorization server, access tokens, scopes, and the resource
server that turns a bearer token into a `Viewer`. Plain Python: knows no GraphQL and no
HTTP framework (server/oauth.py adapts Starlette to it).
"""
