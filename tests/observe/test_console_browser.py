"""The web console in a real headless browser (Debian's chromium + chromedriver, driven by Selenium).

Skips, saying why, where no browser is installed (scripts/test.sh installs one in CI). Screenshots
of the main pages go to artifacts/screenshots/ (gitignored; KAFKAISH_ARTIFACTS moves it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafkaish.testing import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("KAFKAISH_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no headless browser: install Debian's chromium and chromium-driver "
           "(apt-get install -y chromium chromium-driver; scripts/test.sh does it in CI)")


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kafkaish-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1366,900"):
        opts.add_argument(arg)
    # an explicit driver path: Selenium Manager never downloads one
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def kb():
    with EmbeddedBroker(admin_port=0) as kb:
        yield kb


def wait(driver, condition, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def shot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def text_of(driver, css: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css).text


@pytest.fixture(scope="module")
def traffic(kb):
    """A topic with keyed, JSON and binary records, and a group that consumed part of it and left."""
    from kafka import KafkaConsumer, KafkaProducer

    topic, group = f"orders-{uuid.uuid4().hex[:4]}", f"billing-{uuid.uuid4().hex[:4]}"
    p = KafkaProducer(bootstrap_servers=kb.bootstrap)
    from kafkaish.pytest_plugin import create_topic

    create_topic(kb.bootstrap, topic, 3)
    for i in range(30):
        p.send(topic, key=f"order-{i}".encode(), value=f'{{"id": {i}, "amount": {i * 3}}}'.encode(),
               headers=[("source", b"web")], partition=i % 3)
    p.send(topic, key=b"\xff\xfe", value=b"\x00\x01binary\xff", partition=0)
    p.flush()
    c = KafkaConsumer(topic, bootstrap_servers=kb.bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, max_poll_records=4)
    got = 0
    while got < 10:
        got += sum(len(v) for v in c.poll(1000).values())
    c.commit()
    c.close()
    for i in range(5):
        p.send(topic, value=b"more", partition=i % 3)
    p.flush()
    p.close()
    return topic, group


def test_main_pages_load(driver, kb, traffic):
    from selenium.webdriver.common.by import By

    topic, group = traffic
    for path, title, name in (("/", "Cluster overview", "overview"), ("/topics", "Topics", "topics"),
                              (f"/topics/{topic}", f"Topic {topic}", "topic"),
                              (f"/topics/{topic}/messages?partition=0&format=json", f"Messages of {topic}", "messages"),
                              ("/groups", "Consumer groups", "groups"), (f"/groups/{group}", f"Group {group}", "group")):
        driver.get(kb.admin_url + path)
        assert driver.find_element(By.TAG_NAME, "h1").text == title, path
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        shot(driver, name)
    driver.get(kb.admin_url + "/")
    wait(driver, lambda d: text_of(d, "#fig-messages") == "36")  # live figures from overview.json
    assert text_of(driver, "#fig-brokers") == "1"


def test_message_browser_is_binary_safe_and_seeks(driver, kb, traffic):
    topic, _ = traffic
    driver.get(f"{kb.admin_url}/topics/{topic}/messages?partition=0&offset=10&format=text")
    rows = text_of(driver, "#messages tbody").splitlines()
    assert rows[0].startswith("10 ") and "binary" in text_of(driver, "#messages tbody")
    assert "ff fe" in text_of(driver, "#messages tbody") and "00 01 62 69 6e 61 72 79 ff" in text_of(driver, "#messages")
    driver.get(f"{kb.admin_url}/topics/{topic}/messages?partition=1&format=hex&limit=1")
    assert "6f 72 64 65 72 2d 31" in text_of(driver, "#messages")  # "order-1"
    driver.get(f"{kb.admin_url}/topics/{topic}/messages?partition=1&timestamp=2000-01-01T00:00:00Z&limit=2")
    assert text_of(driver, "#messages tbody").splitlines()[0].startswith("0 ")


def test_produced_message_appears_in_the_browser_and_the_live_tail(driver, kb, traffic):
    from kafka import KafkaProducer
    from selenium.webdriver.common.by import By

    topic, _ = traffic
    driver.get(f"{kb.admin_url}/topics/{topic}/tail")
    wait(driver, lambda d: text_of(d, "#tail-status").startswith("Live"))
    marker = f"hello-{uuid.uuid4().hex[:6]}"
    p = KafkaProducer(bootstrap_servers=kb.bootstrap)
    meta = p.send(topic, key=b"greeting", value=marker.encode(), partition=2).get(10)
    p.close()
    wait(driver, lambda d: marker in text_of(d, "#tail"))
    assert f"p2 @{meta.offset}" in text_of(driver, "#tail") and "greeting = " + marker in text_of(driver, "#tail")
    shot(driver, "tail")
    driver.get(f"{kb.admin_url}/topics/{topic}")
    assert marker in text_of(driver, "#recent")
    driver.find_element(By.LINK_TEXT, "Message browser").click()
    driver.get(f"{kb.admin_url}/topics/{topic}/messages?partition=2&offset={meta.offset}")
    assert marker in text_of(driver, "#messages")


def test_lag_shown_equals_the_metric(driver, kb, traffic):
    from selenium.webdriver.common.by import By

    topic, group = traffic
    with urllib.request.urlopen(kb.admin_url + "/metrics", timeout=30) as resp:
        families = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
    metric = {(s.labels["topic"], s.labels["partition"]): s.value for s in families["kafka_consumergroup_lag"].samples
              if s.labels["consumergroup"] == group}
    driver.get(f"{kb.admin_url}/groups/{group}")
    shown = {(el.get_attribute("data-topic"), el.get_attribute("data-partition")): float(el.text)
             for el in driver.find_elements(By.CSS_SELECTOR, "#offsets .lag")}
    assert shown and shown == metric
    assert text_of(driver, "#g-lag") == str(int(sum(metric.values())))


def test_create_a_topic_from_the_form_with_the_keyboard(driver, kb):
    from kafka import KafkaConsumer
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    name = f"from-form-{uuid.uuid4().hex[:6]}"
    driver.get(kb.admin_url + "/topics")
    label = driver.find_element(By.CSS_SELECTOR, "label[for=topic-name]")
    assert label.text == "Name"
    field = driver.find_element(By.ID, "topic-name")
    field.send_keys(name)
    partitions = driver.find_element(By.ID, "topic-partitions")
    partitions.clear()
    partitions.send_keys("4")
    driver.find_element(By.ID, "topic-configs").send_keys("retention.ms=3600000")
    driver.find_element(By.ID, "topic-configs").send_keys(Keys.TAB)  # focus moves to the button
    assert driver.switch_to.active_element.text == "Create topic"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait(driver, lambda d: d.current_url.endswith(f"/topics/{name}"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")) == 4
    c = KafkaConsumer(bootstrap_servers=kb.bootstrap)
    try:
        assert c.partitions_for_topic(name) == {0, 1, 2, 3}
    finally:
        c.close()
    assert kb.broker.storage.topics()[name].configs == {"retention.ms": "3600000"}

    driver.get(kb.admin_url + "/topics")  # a refused name is shown with Kafka's reason
    driver.find_element(By.ID, "topic-name").send_keys(name + Keys.ENTER)
    assert "TOPIC_ALREADY_EXISTS" in wait(driver, lambda d: text_of(d, "#create-error"))


def test_delete_a_topic_and_reset_a_group_with_confirmation(driver, kb, traffic):
    from kafkaish.pytest_plugin import create_topic
    from selenium.webdriver.common.by import By

    topic, group = traffic
    doomed = f"doomed-{uuid.uuid4().hex[:6]}"
    create_topic(kb.bootstrap, doomed, 1)
    driver.get(f"{kb.admin_url}/topics/{doomed}")
    driver.find_element(By.ID, "confirm-name").send_keys(doomed)
    driver.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait(driver, lambda d: d.current_url.endswith("/topics"))
    assert doomed not in kb.broker.storage.topics()

    def committed():
        return {(o.topic, o.partition): o.offset for o in kb.broker.groups.fetch_offsets(group, None, kb.broker.now_ms()).partitions}

    before = committed()
    driver.get(f"{kb.admin_url}/groups/{group}")
    driver.find_element(By.CSS_SELECTOR, "#r-to option[value=latest]").click()
    driver.find_element(By.XPATH, "//button[text()='Review the reset…']").click()
    plan = wait(driver, lambda d: d.find_elements(By.ID, "plan") and text_of(d, "#plan"))  # nothing changed yet
    assert "New offset" in plan and committed() == before
    shot(driver, "reset-confirm")
    driver.find_element(By.XPATH, "//button[text()='Confirm reset']").click()
    wait(driver, lambda d: "reset to latest" in d.page_source)
    assert text_of(driver, "#g-lag") == "0"
    assert all(committed()[tp] == kb.broker.storage.log(*tp).high_watermark for tp in before)
