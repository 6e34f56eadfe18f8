"""Extensions, created unbound: they hold no app state until ``init_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from server.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
csrf = CSRFProtect()
# no default limits: only the sign-in routes are limited (see LOGIN_RATE_LIMIT)
limiter = Limiter(key_func=get_remote_address)
