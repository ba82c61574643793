"""The web console in headless Chromium, per role, on PostgreSQL: what each page shows, and the
ledger's state after. Each test leaves a screenshot per page (desktop and 360 px) in var/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import Client, Response
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.keys import Keys

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database
from skill_ledger.domain import Status
from skill_ledger.readside.queries import ReadModel
from tests.e2e.browser import Browser, start_chromium
from tests.e2e.conftest import DEMO, Server, event_count

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

SCRIPT_NOTE = "<script>alert('owned')</script> great first touch"


@dataclass(frozen=True)
class People:
    """Accounts the module adds beside the demo ones."""

    student_license: int
    other_student: tuple[str, str]
    other_license: int
    promoted_admin: tuple[str, str]


@pytest.fixture(scope="module")
def browser(module_server: Server) -> Iterator[Browser]:
    """One headless Chromium for the module."""
    driver = start_chromium()
    try:
        yield Browser(driver, module_server.base_url)
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def people(module_server: Server, module_accounts: Accounts) -> People:
    """A second student with a license, and an instructor who assessed and then became admin."""
    student = module_accounts.find_user(DEMO["student"][0])
    assert student is not None
    other = ("other.student@lfa.com", "other-student-pass")
    other_user = module_accounts.add_user(other[0], "Other Student", "student", other[1])
    other_license = module_accounts.issue_license(other_user.id).id
    promoted = ("promoted@lfa.com", "promoted-pass-123")
    user = module_accounts.add_user(promoted[0], "Promoted Coach", "instructor", promoted[1])
    token = module_server.login(*promoted)
    answer = api(
        module_server,
        token,
        f"/api/v1/licenses/{other_license}/skills/dribbling/assess",
        {"points_earned": 3, "points_total": 10, "notes": "before promotion"},
    )
    assert answer.status_code == 201, answer.text
    module_accounts.set_role(user.id, "admin")
    return People(module_accounts.licenses_held_by(student.id)[0], other, other_license, promoted)


def api(server: Server, token: str, path: str, body: dict[str, Any] | None = None) -> Response:
    """One API call with a bearer token (POST with a body, GET without)."""
    with server.client(headers={"Authorization": f"Bearer {token}"}) as client:
        return client.post(path, json=body) if body is not None else client.get(path)


def readmodel(db: Database) -> ReadModel:
    """The read table of the module's server."""
    return ReadModel(db)


def no_alert(browser: Browser) -> bool:
    """No script ran an alert on the page."""
    try:
        _ = browser.driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


# -- every visitor ----------------------------------------------------------------------------


def test_the_front_page_leads_to_the_sign_in_form(browser: Browser) -> None:
    browser.driver.delete_all_cookies()
    browser.open("/")
    assert browser.path == "/ui/login"
    assert browser.find("label[for=email]").text == "Email"
    browser.screenshot("login")


def test_signing_in_by_keyboard_alone_reaches_the_roles_first_page(browser: Browser) -> None:
    browser.driver.delete_all_cookies()
    browser.open("/ui/login")
    email = browser.find("#email")
    email.send_keys(DEMO["auditor"][0], Keys.TAB)
    browser.submit(browser.driver.switch_to.active_element, DEMO["auditor"][1], Keys.ENTER)
    assert browser.path == "/ui/audit"
    assert "Audit trail" in browser.find("h1").text


def test_a_wrong_password_is_said_on_the_form_and_the_email_is_kept(browser: Browser) -> None:
    browser.driver.delete_all_cookies()
    browser.open("/ui/login")
    browser.fill({"email": DEMO["admin"][0], "password": "not-the-password"})
    browser.submit("main button[type=submit]")
    assert browser.find("#form-error").text == "Invalid email or password"
    assert browser.find("#email").get_attribute("value") == DEMO["admin"][0]
    browser.screenshot("login-error")


def test_pages_forbid_framing_and_inline_script_and_cookies_are_strict(
    module_server: Server,
) -> None:
    with module_server.client() as client:
        form = client.get("/ui/login")
        assert form.headers["x-frame-options"] == "DENY"
        policy = form.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src" not in policy
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        csrf_cookie = form.headers["set-cookie"].lower()
        assert "httponly" in csrf_cookie
        assert "samesite=strict" in csrf_cookie
        token = form.text.split('name="csrf" value="')[1].split('"')[0]
        email, password = DEMO["admin"]
        signed_in = client.post(
            "/ui/login", data={"csrf": token, "email": email, "password": password}
        )
        assert signed_in.status_code == 303
        session_cookie = signed_in.headers["set-cookie"].lower()
        assert session_cookie.startswith("ledger_session=")
        assert "httponly" in session_cookie
        assert "samesite=strict" in session_cookie
        assert "max-age=3600" in session_cookie  # LEDGER_JWT_EXPIRY_SECONDS, like the API's
        assert "secure" not in session_cookie  # plain HTTP here; over TLS the cookie is Secure


def test_a_form_posted_without_its_csrf_token_is_refused_and_records_nothing(
    module_server: Server, module_db: Database, people: People
) -> None:
    with module_server.client() as client:
        token = client.get("/ui/login").text.split('name="csrf" value="')[1].split('"')[0]
        email, password = DEMO["instructor"]
        client.post("/ui/login", data={"csrf": token, "email": email, "password": password})
        before = event_count(module_db)
        form = {"skill": "passing", "points_total": "10", f"earned_{people.other_license}": "5"}
        assert client.post("/ui/grade", data=form).status_code == 403
        assert client.post("/ui/grade", data={**form, "csrf": "0" * 64}).status_code == 403
        assert client.post("/ui/logout").status_code == 403
    assert event_count(module_db) == before


def sign_in_over_http(client: Client, email: str, password: str) -> Response:
    """The sign-in form posted with its CSRF token, as a browser would."""
    token = client.get("/ui/login").text.split('name="csrf" value="')[1].split('"')[0]
    return client.post("/ui/login", data={"csrf": token, "email": email, "password": password})


def test_the_console_keeps_the_apis_login_limit_per_account(
    browser: Browser, module_server: Server
) -> None:
    email = "nobody.here@lfa.com"
    with module_server.client() as client:
        statuses = [sign_in_over_http(client, email, "wrong").status_code for _ in range(10)]
    assert statuses == [401] * 10
    browser.driver.delete_all_cookies()
    browser.open("/ui/login")
    browser.fill({"email": email, "password": "wrong again"})
    browser.submit("main button[type=submit]")
    assert "Too many failed logins for this account" in browser.find("#form-error").text


def test_signing_out_and_deactivation_end_a_console_session(
    module_server: Server, module_accounts: Accounts
) -> None:
    user = module_accounts.add_user("short.lived@lfa.com", "Short", "instructor", "short-lived-1")
    with module_server.client() as client:
        assert sign_in_over_http(client, "short.lived@lfa.com", "short-lived-1").status_code == 303
        assert client.get("/ui/grade").status_code == 200
        token = client.get("/ui/grade").text.split('name="csrf" value="')[1].split('"')[0]
        signed_out = client.post("/ui/logout", data={"csrf": token})
        assert 'ledger_session=""' in signed_out.headers["set-cookie"]
        assert client.get("/ui/grade").headers["location"] == "/ui/login"
        sign_in_over_http(client, "short.lived@lfa.com", "short-lived-1")
        assert client.get("/ui/grade").status_code == 200
        module_accounts.deactivate(user.id)
        time.sleep(1.2)  # LEDGER_AUTH_CACHE_SECONDS
        assert client.get("/ui/grade").headers["location"] == "/ui/login"


STAFF_PAGES = {
    "/ui/queue": {"admin"},
    "/ui/disputes": {"admin"},
    "/ui/accounts": {"admin"},
    "/ui/grade": {"admin", "instructor"},
    "/ui/mine": {"admin", "instructor"},
    "/ui/audit": {"admin", "auditor"},
    "/ui/audit/feed": {"admin", "auditor"},
    "/ui/dashboard": {"admin", "auditor"},
    "/ui/skills": {"admin", "instructor", "student", "auditor"},  # the licenses one holds
}


@pytest.fixture(scope="module")
def signed_in(module_server: Server) -> Iterator[dict[str, Client]]:
    """A console session per demo role, and one client signed in as nobody."""
    clients = {role: module_server.client() for role in DEMO}
    for role, client in clients.items():
        assert sign_in_over_http(client, *DEMO[role]).status_code == 303
    clients["anonymous"] = module_server.client()
    yield clients
    for client in clients.values():
        client.close()


@pytest.mark.parametrize("page", sorted(STAFF_PAGES))
def test_each_page_admits_exactly_the_roles_the_domain_allows(
    signed_in: dict[str, Client], page: str
) -> None:
    statuses = {who: client.get(page).status_code for who, client in signed_in.items()}
    expected = {role: 200 if role in STAFF_PAGES[page] else 403 for role in DEMO}
    assert statuses == {**expected, "anonymous": 303}


def test_an_api_token_is_no_console_session(module_server: Server) -> None:
    with module_server.client(cookies={"ledger_session": module_server.token("admin")}) as client:
        response = client.get("/ui/queue")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"


# -- instructor -------------------------------------------------------------------------------


def test_an_instructor_grades_a_session_at_once_and_notes_stay_inert(
    browser: Browser, module_db: Database, people: People
) -> None:
    browser.sign_in(*DEMO["instructor"])
    assert browser.path == "/ui/grade"
    browser.find("#skill option[value=shooting]").click()
    browser.fill(
        {
            "points_total": "20",
            f"earned_{people.student_license}": "15",
            f"notes_{people.student_license}": SCRIPT_NOTE,
            f"earned_{people.other_license}": "9",
        }
    )
    browser.screenshot("grade")
    browser.submit("main form[method=post] button[type=submit]")
    summary = browser.find("section.notice").text
    assert f"License {people.student_license}: created, 75.0%" in summary
    assert f"License {people.other_license}: created, 45.0%" in summary
    mine = readmodel(module_db).history(people.student_license, "shooting")[0]
    assert (mine.points_earned, mine.points_total, mine.notes) == (15, 20, SCRIPT_NOTE)
    assert mine.status is Status.ASSESSED
    browser.open("/ui/mine")
    assert SCRIPT_NOTE in browser.text()  # shown as text, never run
    assert no_alert(browser)
    browser.screenshot("mine")


def test_a_wrong_grade_is_named_on_the_form_keeps_every_value_and_records_nothing(
    browser: Browser, module_db: Database, people: People
) -> None:
    browser.sign_in(*DEMO["instructor"])
    before = event_count(module_db)
    browser.fill(
        {
            "points_total": "10",
            f"earned_{people.student_license}": "12",
            f"notes_{people.student_license}": "too many",
            f"earned_{people.other_license}": "4",
        }
    )
    browser.submit("main form[method=post] button[type=submit]")
    error = browser.find(f"#earned_{people.student_license}-error").text
    assert "between 0 and points_total" in error
    assert browser.find(f"#earned_{people.other_license}").get_attribute("value") == "4"
    assert browser.find(f"#notes_{people.student_license}").get_attribute("value") == "too many"
    assert browser.find("#points_total").get_attribute("value") == "10"
    assert event_count(module_db) == before
    browser.screenshot("grade-error")


def test_an_instructor_narrows_the_grading_form_to_a_squad(
    browser: Browser, people: People
) -> None:
    browser.sign_in(*DEMO["instructor"])
    browser.fill({"squad": "other.student"})
    browser.submit("#squad", Keys.ENTER)
    assert browser.all(f"[id='earned_{people.other_license}']")
    assert not browser.all(f"[id='earned_{people.student_license}']")
    assert browser.find("form[method=post] input[name=squad]").get_attribute("value") == (
        "other.student"
    )


def test_an_instructor_archives_their_own_assessment_with_a_reason(
    browser: Browser, module_server: Server, module_db: Database, people: People
) -> None:
    made = api(
        module_server,
        module_server.token("instructor"),
        f"/api/v1/licenses/{people.student_license}/skills/heading/assess",
        {"points_earned": 6, "points_total": 10, "notes": "to archive"},
    ).json()["assessment"]
    browser.sign_in(*DEMO["instructor"])
    browser.open("/ui/mine")
    reason = f"#reason_{made['id']}"
    browser.submit(f"#row-{made['id']} button")  # no reason yet
    assert "must not be empty" in browser.find(f"#reason_{made['id']}-error").text
    browser.fill({reason[1:]: "wrong player"})
    browser.submit(f"#row-{made['id']} button")
    assert f"Archived assessment {made['id']}" in browser.text()
    row = readmodel(module_db).get(made["id"])
    assert row is not None
    assert (row.status, row.archived_reason) == (Status.ARCHIVED, "wrong player")


# -- admin ------------------------------------------------------------------------------------


def test_the_queue_says_why_and_validates_in_one_click_but_not_ones_own(
    browser: Browser, module_server: Server, module_db: Database, people: People
) -> None:
    made = api(
        module_server,
        module_server.token("instructor"),
        f"/api/v1/licenses/{people.other_license}/skills/passing/assess",
        {"points_earned": 8, "points_total": 10, "notes": "queue me"},
    ).json()["assessment"]
    browser.sign_in(*people.promoted_admin)
    assert browser.path == "/ui/queue"
    waiting = browser.find(f"#row-{made['id']}")
    assert "new instructor" in waiting.text
    own = [r for r in browser.all("tbody tr") if "before promotion" in r.text]
    assert len(own) == 1
    assert "your own" in own[0].text
    assert not own[0].find_elements("css selector", "button")
    rows = browser.all("tbody tr")
    ages = [r.find_element("css selector", "time").get_attribute("datetime") for r in rows]
    assert ages == sorted(ages)  # oldest first
    browser.screenshot("queue")
    browser.submit(waiting.find_element("css selector", "button"))
    assert f"Validated assessment {made['id']}" in browser.text()
    assert not browser.all(f"#row-{made['id']}")
    row = readmodel(module_db).get(made["id"])
    assert row is not None
    assert row.status is Status.VALIDATED


def test_an_admin_adds_rerolls_and_deactivates_accounts(
    browser: Browser, module_accounts: Accounts
) -> None:
    browser.sign_in(*DEMO["admin"])
    browser.open("/ui/accounts")
    taken = DEMO["student"][0]
    browser.fill({"email": taken, "name": "New Coach", "password": "long-enough-pass"})
    browser.find("#role option[value=instructor]").click()
    browser.submit("#email", Keys.ENTER)
    assert f"Email: A user with email '{taken}' already exists" in browser.text()
    assert browser.find("#name").get_attribute("value") == "New Coach"
    assert browser.find("#email").get_attribute("value") == taken
    assert browser.find("#role").get_attribute("value") == "instructor"
    browser.fill({"email": "new.coach@lfa.com", "password": "long-enough-pass"})
    browser.submit("#email", Keys.ENTER)
    added = module_accounts.find_user("new.coach@lfa.com")
    assert added is not None
    assert (added.name, added.role.value, added.active) == ("New Coach", "instructor", True)
    browser.find(f"#role-{added.id} option[value=auditor]").click()
    browser.submit(f"#user-{added.id} form.inline button")
    assert module_accounts.user(added.id).role.value == "auditor"
    browser.screenshot("accounts")
    browser.submit(f"#user-{added.id} button.danger")
    assert not module_accounts.user(added.id).active
    assert "deactivated user" in browser.text()


# -- student ----------------------------------------------------------------------------------


def test_a_student_sees_status_percentage_history_and_downloads_a_receipt(
    browser: Browser, module_server: Server, people: People
) -> None:
    made = api(
        module_server,
        module_server.token("admin"),
        f"/api/v1/licenses/{people.student_license}/skills/passing/assess",
        {"points_earned": 9, "points_total": 10, "notes": SCRIPT_NOTE},
    ).json()["assessment"]
    browser.sign_in(*DEMO["student"])
    assert browser.path == "/ui/skills"
    row = browser.find(f"#skill-{people.student_license}-passing").text
    assert "VALIDATED" not in row or "ASSESSED" not in row
    assert "90.0%" in row
    browser.screenshot("skills")
    browser.submit(f"#skill-{people.student_license}-passing a[href*='/ui/skills/']")
    assert SCRIPT_NOTE in browser.text()
    assert no_alert(browser)
    browser.screenshot("history")
    receipt = browser.fetch(f"/ui/receipts/{made['id']}")
    assert receipt.status_code == 200
    assert "attachment" in receipt.headers["content-disposition"]
    events = receipt.json()["events"]
    assert [e["event"]["payload"]["assessment_id"] for e in events] == [made["id"]]


def test_a_student_never_sees_another_students_data(browser: Browser, people: People) -> None:
    browser.sign_in(*DEMO["student"])
    assert f"License {people.other_license}" not in browser.text()
    browser.open(f"/ui/skills/{people.other_license}/dribbling")
    assert "Students can read only the licenses they hold" in browser.text()
    assert "before promotion" not in browser.text()
    theirs = browser.fetch(f"/ui/skills/{people.other_license}/dribbling")
    assert theirs.status_code == 403
    for path in ("/ui/queue", "/ui/audit", "/ui/audit/feed", "/ui/dashboard", "/ui/accounts"):
        assert browser.fetch(path).status_code == 403, path
    browser.screenshot("forbidden")


def test_a_student_disputes_and_an_admin_modifies_the_grade_with_new_points(
    browser: Browser, module_server: Server, module_db: Database, people: People
) -> None:
    made = api(
        module_server,
        module_server.token("instructor"),
        f"/api/v1/licenses/{people.student_license}/skills/finishing/assess",
        {"points_earned": 4, "points_total": 10, "notes": "dispute me"},
    ).json()["assessment"]
    validated = api(
        module_server,
        module_server.token("admin"),
        f"/api/v1/assessments/{made['id']}/validate",
        {},
    )
    assert validated.status_code == 200, validated.text
    browser.sign_in(*DEMO["student"])
    form = f"#skill-{people.student_license}-finishing form"
    browser.submit(f"{form} button")  # no reason
    assert "Reason:" in browser.find(f"#reason_{made['id']}-error").text
    browser.fill({f"reason_{made['id']}": SCRIPT_NOTE})
    browser.submit(f"{form} button")
    assert f"Disputed assessment {made['id']}" in browser.text()
    row = readmodel(module_db).get(made["id"])
    assert row is not None
    assert (row.status, row.dispute_reason) == (Status.DISPUTED, SCRIPT_NOTE)

    browser.sign_in(*DEMO["admin"])  # validated it: may not resolve
    browser.open("/ui/disputes")
    section = f"#dispute-{made['id']}"
    assert SCRIPT_NOTE in browser.find(section).text
    assert no_alert(browser)
    browser.find(f"[id='{made['id']}_approve']").click()
    browser.submit(f"{section} button[type=submit]")
    assert "neither assessed nor validated" in browser.find(section).text

    browser.sign_in(*people.promoted_admin)
    browser.open("/ui/disputes")
    browser.find(f"[id='{made['id']}_reject']").click()
    browser.submit(f"{section} button[type=submit]")  # a rejection needs a note
    assert "Note:" in browser.find(f"[id='{made['id']}_note-error']").text
    assert browser.find(f"[id='{made['id']}_reject']").is_selected()
    browser.screenshot("disputes")
    browser.find(f"[id='{made['id']}_modify']").click()
    browser.fill(
        {
            f"{made['id']}_note": "recounted the drill",
            f"{made['id']}_points_earned": "7",
            f"{made['id']}_points_total": "10",
        }
    )
    browser.submit(f"{section} button[type=submit]")
    assert f"Resolved the dispute of assessment {made['id']}" in browser.text()
    history = readmodel(module_db).history(people.student_license, "finishing")
    active = [r for r in history if r.is_active]
    assert [(r.points_earned, r.points_total) for r in active] == [(7, 10)]
    disputed = next(r for r in history if str(r.id) == made["id"])
    assert disputed.dispute_outcome == "modify"


# -- auditor ----------------------------------------------------------------------------------


def test_an_auditor_walks_a_pairs_timeline_with_the_chain_recomputed(
    browser: Browser, people: People
) -> None:
    browser.sign_in(*DEMO["auditor"])
    browser.open(f"/ui/audit?license={people.other_license}&skill=dribbling&version=1")
    rows = browser.all("table.timeline tbody tr")
    assert rows
    assert all("✓ recomputed" in r.text for r in rows)
    assert "Assessed" in rows[0].text
    assert "instructor" in rows[0].text  # the role when it happened, before the promotion
    assert "State at version 1" in browser.text()
    browser.open(
        f"/ui/audit?license={people.other_license}&skill=dribbling&as_of=2000-01-01T00:00:00Z"
    )
    assert "State at version 0" in browser.text()
    assert "None yet." in browser.text()
    browser.open(f"/ui/audit?license={people.other_license}&skill=dribbling&as_of=yesterday")
    assert "or at time (optional, UTC):" in browser.text()
    browser.screenshot("audit-timeline")


def test_an_auditor_pages_the_feed_and_runs_verify(browser: Browser) -> None:
    browser.sign_in(*DEMO["auditor"])
    browser.open("/ui/audit/feed?limit=3")
    first = [r.text.split()[0] for r in browser.all("tbody tr")]
    assert first == ["1", "2", "3"]
    browser.submit("a[rel=next]")
    assert browser.all("tbody tr")[0].text.split()[0] == "4"
    browser.screenshot("feed")
    browser.open("/ui/audit")
    assert "Latest signed checkpoint" in browser.text()
    browser.submit("form[action='/ui/audit/verify'] button")
    assert "no findings" in browser.find("#verify-result").text
    browser.screenshot("audit")


def test_dashboards_draw_each_report_as_svg_with_its_numbers_beneath(browser: Browser) -> None:
    browser.sign_in(*DEMO["admin"])
    browser.open("/ui/dashboard")
    charts = browser.all("section.chart")
    assert len(charts) == 9
    for chart in charts:
        assert chart.find_elements("css selector", "svg")
        assert chart.find_elements("css selector", "table")
    states = browser.find("#chart-state_distribution").find_element("xpath", "..").text
    assert "ASSESSED" in states
    browser.screenshot("dashboard")


# -- every page at 360 px ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("instructor", "/ui/grade"),
        ("instructor", "/ui/mine"),
        ("admin", "/ui/queue"),
        ("admin", "/ui/accounts"),
        ("admin", "/ui/disputes"),
        ("student", "/ui/skills"),
        ("auditor", "/ui/audit"),
        ("auditor", "/ui/dashboard"),
    ],
)
def test_pages_fit_a_360_px_phone(browser: Browser, people: People, role: str, path: str) -> None:
    browser.sign_in(*DEMO[role])
    browser.open(path)
    assert browser.overflows_at_phone_width() == 0
