from django.urls import path

from . import views

urlpatterns = [
    # Step-up: a signed-in user enters the authenticator code (admin gate, MFA policy).
    path("verify/", views.otp_verify, name="accounts_otp_verify"),
]
