from django.urls import path

from . import views

# Mounted at /security-info/.
urlpatterns = [
    path("", views.security_info, name="recovery_security_info"),
    path("keep-your-account-secure/", views.nudge, name="recovery_nudge"),
    path("keep-your-account-secure/skip/", views.nudge_skip, name="recovery_nudge_skip"),
    path("keep-your-account-secure/still-current/", views.nudge_reconfirm, name="recovery_nudge_reconfirm"),
    path("finish/", views.finish, name="recovery_finish"),
    path("methods/", views.pick_method, name="recovery_pick_method"),
    path("questions/", views.questions, name="recovery_questions"),
    path("questions/done/", views.questions_done, name="recovery_questions_done"),
    path("authenticator/", views.authenticator, name="recovery_authenticator"),
    path("authenticator/scan/", views.authenticator_scan, name="recovery_authenticator_scan"),
    path("authenticator/code/", views.authenticator_code, name="recovery_authenticator_code"),
    path("authenticator/done/", views.authenticator_done, name="recovery_authenticator_done"),
    path("recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("remove/<str:method>/", views.remove, name="recovery_remove"),
]
