// Checks the device ID's Verhoeff check digit while it is typed (the server checks again).
(function () {
  const d = ["0123456789", "1234067895", "2340178956", "3401289567", "4012395678",
             "5987604321", "6598710432", "7659821043", "8765932104", "9876543210"];
  const p = ["0123456789", "1576283094", "5803796142", "8916043527",
             "9453126870", "4286573901", "2793806415", "7046913258"];
  function valid(digits) {
    let c = 0;
    const reversed = digits.split("").reverse();
    for (let i = 0; i < reversed.length; i++) {
      c = +d[c][+p[i % 8][+reversed[i]]];
    }
    return c === 0;
  }
  const input = document.getElementById("device-id");
  const hint = document.getElementById("device-id-check");
  if (!input || !hint) return;
  function check() {
    const digits = input.value.replace(/[\s.-]/g, "");
    if (digits.length < 16) { hint.textContent = ""; hint.className = "hint"; input.setCustomValidity(""); return; }
    const ok = /^[0-9]{16}$/.test(digits) && valid(digits);
    hint.textContent = ok ? input.dataset.ok : input.dataset.bad;
    hint.className = ok ? "hint good" : "hint bad";
    input.setCustomValidity(ok ? "" : input.dataset.bad);
  }
  input.addEventListener("input", check);
  check();
})();
