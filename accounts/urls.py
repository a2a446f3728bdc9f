from django.urls import path

from . import invite_views, views

urlpatterns = [
    # The code step of the sign-in (accounts.stages.OTPStage).
    path("login/code/", views.otp_login, name="accounts_otp_login"),
    # Step-up: a signed-in user enters the authenticator code (admin gate, MFA policy).
    path("verify/", views.otp_verify, name="accounts_otp_verify"),
    # My account (accounts.home): where the user is signed in, and the language.
    path("sessions/<int:session_id>/end/", views.end_session, name="accounts_end_session"),
    path("sessions/end-others/", views.end_other_sessions, name="accounts_end_other_sessions"),
    path("language/", views.choose_language, name="accounts_choose_language"),
    # Invitation e-mail link: set a first password (accounts.notifications.invite_user).
    path("invite/done/", invite_views.InviteDoneView.as_view(), name="accounts_invite_done"),
    path("invite/<uidb64>/<token>/", invite_views.InviteSetPasswordView.as_view(),
         name="accounts_invite"),
]
