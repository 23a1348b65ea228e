// tbhub pages: small progressive enhancements. Everything works without this file.
(function () {
  "use strict";
  // Ask before destructive actions: <form data-confirm="Delete …?">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  // Copy buttons: <button data-copy="#element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });
  // Runs table: show an invalid regular expression as you type (the server checks it too).
  var search = document.getElementById("run-search");
  if (search) {
    search.addEventListener("input", function () {
      try { new RegExp(search.value, "i"); search.setCustomValidity(""); }
      catch (e) { search.setCustomValidity("Invalid regular expression"); }
      search.reportValidity();
    });
  }
})();
