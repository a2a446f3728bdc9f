"""Rules for registering and verifying recovery methods (views, admin, tasks and tests call these)."""


def totp_issuer(device):
    """OTP_TOTP_ISSUER: the authenticator app shows the user's organisation."""
    tenant = getattr(device.user, "tenant", None)
    return tenant.name if tenant is not None else "Identity portal"


def check_device_answers(device, answers) -> bool:
    raise NotImplementedError
