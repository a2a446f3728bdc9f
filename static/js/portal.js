// Progressive enhancement only: every page works without it (and the CSP allows no inline script).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy-target]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy-target"));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.getAttribute("data-copy-value") || source.textContent.trim()).then(function () {
    var done = button.getAttribute("data-copied-label");
    if (done) button.textContent = done;
  });
});
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) window.print();
});
