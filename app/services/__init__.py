"""The domain layer: plain Python rules shared by the web UI, API, SCIM and CLI.

Services receive an :class:`~app.services.context.Actor`, flush their changes and audit events
in the caller's transaction, and never commit or read the request.
"""
