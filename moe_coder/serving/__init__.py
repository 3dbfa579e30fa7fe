"""Serving: an OpenAI-compatible HTTP server in front of a mixture (``moe-coder serve``).

:func:`moe_coder.serving.app.create_app` builds the ASGI app; :func:`moe_coder.serving.app.serve` runs it.
"""
