"""Extensions, created unbound: they hold no app state until ``init_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from server.csrf import MaskedCSRFProtect
from server.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
csrf = MaskedCSRFProtect()  # the token masked per response: pages are compressed
# no default limits: only the sign-in routes are limited (see LOGIN_RATE_LIMIT)
limiter = Limiter(key_func=get_remote_address)
