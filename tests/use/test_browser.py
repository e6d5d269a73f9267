"""`serve` in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by Selenium draws
strokes on the canvas and reads the page's answer. Skipped, saying why, where either is missing."""

import base64
import shutil
import threading
from pathlib import Path

import pytest
import torch
from userun import save_run

from mnist_scratch.report.show import fmt_conf
from mnist_scratch.use import serve
from mnist_scratch.use.image import prepare
from mnist_scratch.use.predict import Predictor

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) drives the browser")
if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
    pytest.skip("no chromium/chromedriver: apt-get install chromium chromium-driver", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SEVEN = [(-70, -80), (70, -80), (0, 95)]  # a top bar, then the stem down-left (offsets from the canvas centre)
ONE = [(10, -95), (0, 95)]


def browser():
    """Headless Chromium through Debian's chromedriver (no Selenium Manager download)."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,680"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)


def start(predictor):
    srv = serve.make_server(predictor, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def url(srv) -> str:
    return "http://{}:{}/".format(*srv.server_address[:2])


def draw(driver, points):
    """One stroke through points on the drawing canvas, then wait for the page's answer to it."""
    pad = driver.find_element(By.ID, "pad")
    chain = ActionChains(driver).move_to_element_with_offset(pad, *points[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for k in range(1, 6):  # several moves per segment: the page draws (and asks) as the pointer moves
            chain.move_to_element_with_offset(pad, x0 + (x1 - x0) * k // 5, y0 + (y1 - y0) * k // 5)
    chain.release().perform()
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-busy") == "0")


def page_view(driver) -> dict:
    """What the page shows: the prediction, the bars, the hidden units, the 28x28 input and the canvas's PNG."""
    js = ("const c = document.getElementById('input').getContext('2d').getImageData(0, 0, 28, 28).data;"
          "return [Array.from(c).filter((v, i) => i % 4 == 0), document.getElementById('pad').toDataURL()];")
    pixels, url = driver.execute_script(js)
    return {"pred": driver.find_element(By.ID, "pred").text,
            "pcts": [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#probs .pct")],
            "units": len(driver.find_elements(By.CSS_SELECTOR, "#hidden .unit")),
            "input": torch.tensor(pixels, dtype=torch.float32).reshape(28, 28) / 255,
            "png": base64.b64decode(url.removeprefix(serve.PNG_URL))}


def test_drawing_on_the_canvas_shows_the_networks_answer(tmp_path):
    predictor = Predictor(save_run(tmp_path, nh=(40, 12)))
    srv, driver = start(predictor), browser()
    try:
        driver.get(url(srv))
        assert driver.find_element(By.ID, "note").text == "draw a digit"
        draw(driver, SEVEN)
        seen = page_view(driver)
        digit = prepare(seen["png"])  # the canvas the page holds, through predict's own preprocessing
        g = predictor(digit.image[None])[0]
        assert digit.inverted and seen["pred"] == predictor.classes[g.top[0][0]]
        assert seen["pcts"] == [fmt_conf(p) for p in predictor.probs(g)]  # rounded down as the terminal does
        assert seen["units"] == 52  # 40 + 12 hidden units drawn
        assert (seen["input"] - digit.image).abs().max() <= 1 / 255 + 1e-6  # the 28x28 shown is the one sent
        driver.find_element(By.ID, "clear").click()
        assert driver.find_element(By.ID, "pred").text == "" and not driver.find_elements(By.CSS_SELECTOR, ".bar")
    finally:
        driver.quit()
        srv.shutdown()
        srv.server_close()


@pytest.mark.slow
def test_a_trained_run_reads_a_seven_and_a_one_drawn_in_the_browser(trained_run):
    srv, driver = start(Predictor(trained_run)), browser()
    try:
        driver.get(url(srv))
        for want, stroke in (("7", SEVEN), ("1", ONE)):
            driver.find_element(By.ID, "clear").click()
            draw(driver, stroke)
            assert driver.find_element(By.ID, "pred").text == want
    finally:
        driver.quit()
        srv.shutdown()
        srv.server_close()
