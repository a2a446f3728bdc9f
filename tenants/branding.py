"""Tenant branding: the checks on what an org admin uploads or types, and what pages and e-mails
read of it.

A logo is untrusted input that every visitor's browser will render: it is decoded with Pillow
(raster formats only: SVG can carry script), refused when the file or the picture is too large
(decompression bombs), and re-encoded as a fresh PNG, so nothing of the upload but its pixels is
ever served. The accent colour must keep white text on it readable (WCAG AA, 4.5:1).
"""

import io
import re

from django.urls import reverse
from django.utils.translation import gettext as _

from . import app_settings

DEFAULT_ACCENT = "#0067b8"
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
ACCEPTED_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
WCAG_AA_NORMAL_TEXT = 4.5


class LogoError(ValueError):
    pass


def _luminance(hex_colour):
    def channel(value):
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast_ratio(first, second):
    """WCAG 2.x contrast ratio of two #rrggbb colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def accent_colour_error(colour):
    """Why the colour can't be the accent, or None. White text sits on it (buttons) and it sits
    on white as link text: the same ratio both ways."""
    if not isinstance(colour, str) or not HEX_COLOUR.fullmatch(colour):
        return _("Enter a colour as # and six hexadecimal digits, e.g. #0067b8.")
    ratio = contrast_ratio(colour, "#ffffff")
    if ratio < WCAG_AA_NORMAL_TEXT:
        return _("White text on %(colour)s has a contrast of %(ratio).1f:1; at least 4.5:1 is "
                 "needed to be readable (WCAG AA). Choose a darker colour.") % {
            "colour": colour, "ratio": ratio}
    return None


def logo_png(uploaded):
    """The uploaded file's picture as a fresh PNG within the logo box, or LogoError saying why."""
    from PIL import Image, UnidentifiedImageError

    data = uploaded.read(app_settings.LOGO_MAX_BYTES + 1)
    if len(data) > app_settings.LOGO_MAX_BYTES:
        raise LogoError(_("The logo file is larger than %(kb)d KB.") % {
            "kb": app_settings.LOGO_MAX_BYTES // 1024})
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED_FORMATS:
                raise LogoError(_("Upload the logo as PNG, JPEG, GIF or WebP."))
            width, height = image.size
            if width * height > app_settings.LOGO_MAX_PIXELS:
                raise LogoError(_("The logo is %(width)d × %(height)d pixels; use at most "
                                  "2,000 × 2,000.") % {"width": width, "height": height})
            image.seek(0)  # an animated GIF: its first frame
            picture = image.convert("RGBA")
    except LogoError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LogoError(_("This file is not a picture the portal can read.")) from exc
    picture.thumbnail(app_settings.LOGO_BOX)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def branding_of(tenant):
    """The tenant's branding, or None (the platform host, a tenant from before branding)."""
    if tenant is None:
        return None
    try:
        return tenant.branding
    except tenant.__class__.branding.RelatedObjectDoesNotExist:
        return None


def accent_of(tenant):
    branding = branding_of(tenant)
    return branding.accent_colour if branding is not None else DEFAULT_ACCENT


def logo_path(tenant):
    """The logo's path on the tenant's hosts, versioned so that browsers may keep it; or None."""
    branding = branding_of(tenant)
    if branding is None or not branding.has_logo:
        return None
    return f"{reverse('tenant_logo')}?v={branding.logo_version}"


def theme_path(tenant):
    branding = branding_of(tenant)
    version = f"{branding.accent_colour.lstrip('#')}" if branding is not None else "default"
    return f"{reverse('tenant_theme')}?v={version}"
