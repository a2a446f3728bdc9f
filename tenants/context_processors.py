from .branding import branding_of, logo_path, theme_path


def tenant(request):
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {"tenant": None}
    branding = branding_of(tenant)
    return {
        "tenant": tenant,
        "branding": {
            "logo_url": logo_path(tenant),
            "theme_url": theme_path(tenant),
            "sign_in_text": branding.sign_in_text if branding is not None else "",
        },
    }
