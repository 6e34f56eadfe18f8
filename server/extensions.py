"""Extensions, created unbound: they hold no app state until ``init_app``."""

from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from server.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
