// Counts down the activation code and follows its state until the token has redeemed it.
(function () {
  const box = document.getElementById("activation");
  const status = document.getElementById("status");
  const countdown = document.getElementById("countdown");
  const again = document.getElementById("again");
  if (!box || !status) return;
  let left = parseInt(box.dataset.seconds, 10);
  let done = false;
  function finish(state) {
    done = true;
    status.textContent = status.dataset[state];
    status.className = state === "completed" ? "ok" : "error";
    status.dataset.state = state;
    if (state !== "completed") again.hidden = false;
    document.getElementById("countdown-line").hidden = true;
  }
  setInterval(function () {
    if (done) return;
    left = Math.max(0, left - 1);
    countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
  }, 1000);
  async function poll() {
    if (done) return;
    try {
      const answer = await fetch("/portal/activate/" + box.dataset.id + "/state",
                                 {credentials: "same-origin", cache: "no-store"});
      const body = await answer.json();
      if (body.state === "completed" || body.state === "expired" || body.state === "failed") {
        finish(body.state);
        return;
      }
    } catch (e) { /* try again on the next tick */ }
    setTimeout(poll, 1500);
  }
  poll();
})();
