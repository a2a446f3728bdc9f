from django.urls import path

from . import views

urlpatterns = [
    path("logo.png", views.logo, name="tenant_logo"),
    path("theme.css", views.theme, name="tenant_theme"),
]
