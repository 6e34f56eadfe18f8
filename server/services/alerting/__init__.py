"""Red-flag alerts reaching a person: the clinic's routing, its contacts, each alert's notices.
The worker sends the notices through the delivery package (``delivery.alerts``)."""
