// The console's only script: an opt-in auto-refresh (every 15 s), remembered per browser.
(function () {
  "use strict";
  var box = document.getElementById("autorefresh");
  if (!box) { return; }
  var timer = null;
  function apply() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (box.checked) { timer = setTimeout(function () { window.location.reload(); }, 15000); }
  }
  box.checked = window.localStorage.getItem("syncd-autorefresh") === "1";
  box.addEventListener("change", function () {
    window.localStorage.setItem("syncd-autorefresh", box.checked ? "1" : "0");
    apply();
  });
  apply();
}());
