from django.urls import path

from . import views

urlpatterns = [
    # The code step of the sign-in (accounts.stages.OTPStage).
    path("login/code/", views.otp_login, name="accounts_otp_login"),
    # Step-up: a signed-in user enters the authenticator code (admin gate, MFA policy).
    path("verify/", views.otp_verify, name="accounts_otp_verify"),
]
