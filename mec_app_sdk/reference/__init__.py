"""`mec-reference-app`: an AR-anchor-like stateful app built on `mec_app_sdk.contexts`.

Devices send sequence-numbered updates over HTTP JSON (`app`); each user's record
(`anchors`) is kept in a `ContextStore` and handed over through the UserContextService on a
second port, so a user moves between instances without an update lost or applied twice.
"""
