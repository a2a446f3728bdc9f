from django.urls import path

from . import invite_views, views

urlpatterns = [
    # The code step of the sign-in (accounts.stages.OTPStage).
    path("login/code/", views.otp_login, name="accounts_otp_login"),
    # Step-up: a signed-in user enters the authenticator code (admin gate, MFA policy).
    path("verify/", views.otp_verify, name="accounts_otp_verify"),
    # Invitation e-mail link: set a first password (accounts.notifications.invite_user).
    path("invite/done/", invite_views.InviteDoneView.as_view(), name="accounts_invite_done"),
    path("invite/<uidb64>/<token>/", invite_views.InviteSetPasswordView.as_view(),
         name="accounts_invite"),
]
