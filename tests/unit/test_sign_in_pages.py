"""Every way sign-in can end has its page, in English and French, carrying no value."""

from __future__ import annotations

import re
from pathlib import Path

from api.signin import pages

SIGNIN = Path(pages.__file__).parent
# The codes the sign-in modules end on: pages shown, and failures raised for a page to show.
ENDINGS = re.compile(r'(?:page\(|_failed\(\s*|SignInFailed\(\s*)"([A-Z_]+)"')


def test_every_code_sign_in_ends_on_has_a_page_in_both_languages() -> None:
    used = {code for module in SIGNIN.glob("*.py") for code in ENDINGS.findall(module.read_text())}
    assert {"SIGNED_IN", "ID_TOKEN_INVALID", "PROVIDER_REFUSED", "NO_MEMBERSHIP"} <= used
    assert used <= set(pages.TEXTS)
    for code in used:
        text = pages.TEXTS[code]
        assert all((text.title_en, text.body_en, text.title_fr, text.body_fr)), code
        answer = pages.page(code, 400)
        body = bytes(answer.body).decode()
        assert '<section lang="fr">' in body and code in body
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
