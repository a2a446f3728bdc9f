# Loaded with Django so that @shared_task binds to our app (and its broker), not Celery's default.
from .celery import app as celery_app

__all__ = ("celery_app",)
