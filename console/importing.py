"""CSV import and export of a tenant's users (django-import-export).

Import rules: columns email, name, language, active, groups; every row is checked in a dry run first,
and the real import runs in one transaction that rolls back when any row fails. A row updates
the tenant's user with its address, or makes a new user of the tenant, whether or not another
tenant has a user with that address (nothing here looks outside the tenant). New users are
created by accounts.services.provision_user and invited, like users made one by one.

The groups column (optional) lists the user's groups of the tenant, by name, separated by ";":
a row sets the user's groups to exactly those (an empty cell: none); without the column nobody's
groups change. A name that is not one of the tenant's groups is an error on that row, never a new
group: groups decide who may use which application and with which role, so a typo ("Slaes")
must not quietly make a group that grants nothing, or the group an application's role waits for.
Groups are made on purpose, on the admin's Groups page.
"""

import tablib
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from import_export.instance_loaders import CachedInstanceLoader

import audit
from accounts.models import TenantGroup, User
from accounts.notifications import invite_user
from accounts.services import provision_user
from core.spreadsheet import SafeExportMixin
from recovery.status import with_registration_status
from tenants.scoping import tenant_scope

IMPORT_COLUMNS = ("email", "name", "language", "active", "groups")
GROUP_SEPARATOR = ";"
# Exported for the admin to read, ignored when the file comes back (recovery.status owns it).
EXPORT_ONLY_COLUMNS = ("registration",)
REQUIRED_COLUMNS = ("email",)
MAX_IMPORT_BYTES = 2 * 1024 * 1024  # ~20,000 users; anything bigger is not a user list


class ImportFileError(ValueError):
    """The uploaded file cannot be read as a user list; the message says what to do."""


def decode_csv_bytes(data: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes) or Shift_JIS (cp932, Excel's "CSV")."""
    if b"\x00" in data:
        raise ImportFileError(_("The file is not a CSV text file (it contains binary data)."))
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(
        _("The file is neither UTF-8 nor Shift_JIS text. Save it as “CSV UTF-8” and try again.")
    )


class SpreadsheetCSV(base_formats.CSV):
    """CSV that reads Excel's encodings and writes text that spreadsheets show, never run."""

    def get_title(self):
        return "csv"

    def is_binary(self):
        return True  # hand us the raw bytes: we work out the encoding ourselves

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = decode_csv_bytes(in_stream)
        try:
            return tablib.import_set(in_stream, format="csv", **kwargs)
        except Exception as exc:  # noqa: BLE001 - csv.Error and tablib's own: one clear message
            raise ImportFileError(_("The file could not be read as CSV.")) from exc

    def export_data(self, dataset, **kwargs):
        # The BOM makes Excel read UTF-8 (Japanese names) correctly.
        return "\ufeff" + dataset.export("csv", **kwargs)


class ActiveWidget(widgets.BooleanWidget):
    def clean(self, value, row=None, **kwargs):
        if value is None or str(value).strip() == "":
            return True  # a new user is active unless the file says otherwise
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "y"}:
            return True
        if text in {"0", "false", "no", "n"}:
            return False
        raise ValueError(_("Write 1 (active) or 0 (inactive)."))


class UserResource(SafeExportMixin, resources.ModelResource):
    email = fields.Field(attribute="email", column_name="email")
    name = fields.Field(attribute="name", column_name="name")
    language = fields.Field(attribute="language", column_name="language")
    active = fields.Field(attribute="is_active", column_name="active", widget=ActiveWidget())
    registration = fields.Field(column_name="registration", readonly=True)  # no attribute: not imported
    # No attribute either: read in before_import_row, saved in after_save_instance.
    groups = fields.Field(column_name="groups", readonly=True)

    class Meta:
        model = User
        fields = IMPORT_COLUMNS + EXPORT_ONLY_COLUMNS
        import_id_fields = ("email",)
        instance_loader_class = CachedInstanceLoader
        clean_model_instances = True
        skip_diff = False
        use_transactions = True

    def __init__(self, tenant=None, **kwargs):
        super().__init__()
        self.tenant = tenant
        self.created_users = []
        self.first_line_of = {}
        self.groups_of_row = {}  # e-mail -> the tenant's groups named on its row

    @classmethod
    def get_display_name(cls):
        return _("users")

    def get_queryset(self):
        # Only the tenant's own users can be updated by a row; any other e-mail is a new user.
        with tenant_scope(self.tenant):
            return User.objects.all()

    def get_user_visible_fields(self):
        return [field for field in super().get_user_visible_fields() if field.attribute]

    def filter_export(self, queryset, **kwargs):
        groups = TenantGroup.objects.filter(tenant=self.tenant).order_by("name")
        return with_registration_status(queryset).prefetch_related(
            Prefetch("tenant_groups", queryset=groups, to_attr="groups_here"))

    def dehydrate_groups(self, user):
        groups = getattr(user, "groups_here", None)
        if groups is None:  # a row of the import's preview
            groups = TenantGroup.objects.filter(tenant_id=user.tenant_id, members=user).order_by("name")
        return GROUP_SEPARATOR.join(group.name for group in groups if group.tenant_id == user.tenant_id)

    def dehydrate_registration(self, user):
        return user.registration_status

    def before_import(self, dataset, **kwargs):
        headers = [str(h or "").strip().lower() for h in (dataset.headers or [])]
        unknown = [h for h in headers if h not in IMPORT_COLUMNS + EXPORT_ONLY_COLUMNS]
        missing = [c for c in REQUIRED_COLUMNS if c not in headers]
        duplicated = sorted({h for h in headers if headers.count(h) > 1})
        if self.tenant is None or unknown or missing or duplicated:
            dataset.wipe()  # no row is looked at when the columns are wrong
            if self.tenant is None:
                raise ImportFileError(_("Import users on the organisation's own admin site."))
            raise ImportFileError(
                _("Wrong columns. Expected: %(expected)s (first line). Found: %(found)s.")
                % {"expected": ", ".join(IMPORT_COLUMNS), "found": ", ".join(headers) or "—"}
            )
        rows = [list(row) for row in dataset]
        email_at = headers.index("email")
        for row in rows:
            row[email_at] = str(row[email_at] or "").strip().lower()
        dataset.wipe()
        dataset.headers = headers
        for row in rows:
            dataset.append(row)

    def before_import_row(self, row, row_number=None, **kwargs):
        email = row.get("email") or ""
        line = row_number + 1  # line 1 holds the column names
        if email in self.first_line_of:
            raise ValidationError({"email": _(
                "This e-mail address is already on line %(line)d of the file."
            ) % {"line": self.first_line_of[email]}})
        if email:
            self.first_line_of[email] = line
        language = str(row.get("language") or "").strip().lower() or settings.LANGUAGE_CODE
        codes = [code for code, _name in settings.LANGUAGES]
        if language not in codes:
            message = _("Write one of: %(codes)s.") % {"codes": ", ".join(codes)}
            raise ValidationError({"language": message})
        row["language"] = language
        if "groups" in row:
            self.groups_of_row[email] = self._groups_named(row.get("groups"))

    def _groups_named(self, cell):
        names = list(dict.fromkeys(
            name.strip() for name in str(cell or "").split(GROUP_SEPARATOR) if name.strip()))
        found = {g.name: g for g in TenantGroup.objects.filter(tenant=self.tenant, name__in=names)}
        unknown = [name for name in names if name not in found]
        if unknown:
            raise ValidationError({"groups": _(
                "No group of the organisation is called: %(names)s. Create it on the Groups page "
                "first, or correct the name."
            ) % {"names": ", ".join(unknown)}})
        return [found[name] for name in names]

    def after_init_instance(self, instance, new, row, **kwargs):
        if new:
            instance.tenant = self.tenant
            instance.set_unusable_password()  # provisioning sets it; here it satisfies full_clean

    def do_instance_save(self, instance, is_create):
        if not is_create:
            instance.save()
            return
        user = provision_user(
            tenant=self.tenant, email=instance.email, name=instance.name,
            language=instance.language, is_active=instance.is_active,
        )
        instance.pk = user.pk
        instance.password = user.password
        instance._state.adding = False
        self.created_users.append(user)

    def after_save_instance(self, instance, row, **kwargs):
        wanted = self.groups_of_row.get(instance.email)
        if wanted is None:
            return  # no groups column: the user's groups stay as they are
        current = set(TenantGroup.objects.filter(tenant=self.tenant, members=instance))
        instance.tenant_groups.remove(*(current - set(wanted)))
        instance.tenant_groups.add(*(set(wanted) - current))

    def after_import(self, dataset, result, **kwargs):
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        for user in self.created_users:
            invite_user(user)
        actor = kwargs.get("user")
        audit.record(
            "users.imported", tenant=self.tenant,
            actor=getattr(actor, "email", None),
            created=len(self.created_users),
            updated=result.totals.get("update", 0),
        )
