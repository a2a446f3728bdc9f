"""Mounted at accounts/password/reset/ (before allauth's URLs, whose e-mail reset stays off)."""

from django.urls import path

from . import reset_views

urlpatterns = [
    # The sign-in page links to this name ("Forgot my password").
    path("", reset_views.start, name="account_reset_password"),
    path("method/", reset_views.choose_method, name="recovery_reset_method"),
    path("verify/", reset_views.verify, name="recovery_reset_verify"),
    path("password/", reset_views.new_password, name="recovery_reset_password"),
    path("done/", reset_views.done, name="recovery_reset_done"),
]
