"""The VAPID public key browsers need to subscribe."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from server.inputs import InputSchema
from server.push import public_key_b64

from .blueprint import Blueprint

blp = Blueprint("push", __name__, url_prefix="/api/v1/push", description="Web Push settings")


class PushKeySchema(InputSchema):
    """The applicationServerKey for ``pushManager.subscribe``."""

    public_key = ma.fields.String(metadata={"description": "base64url, uncompressed P-256"})


@blp.route("/key")
class PushKey(MethodView):
    """The server's VAPID key."""

    @blp.doc(security=[])
    @blp.response(200, PushKeySchema)
    def get(self) -> dict[str, str]:
        """The VAPID public key (applicationServerKey) to subscribe with."""
        return {"public_key": public_key_b64(current_app.config["VAPID_PRIVATE_KEY"])}
