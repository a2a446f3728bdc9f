"""The only modules that use a library's private API or change a library at run time: one per
library (core.compat.allauth, core.compat.django).

Each entry says what it works around and the upstream issue (or what upstream would need), the
installed version it was checked against, and the test in tests/core/test_compat.py that drives it
through the library's public entry point under that version, so an upgrade that changes what it
relies on fails that test rather than a sign-in in production.
tests/core/test_compat.py::test_no_module_patches_a_library_outside_core_compat keeps it that way.
"""
