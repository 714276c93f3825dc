"""Status events on the interservice bus: the model, the outbox, the publisher.

Importing this package imports neither pika nor pydantic; the modules do, when used.
"""
