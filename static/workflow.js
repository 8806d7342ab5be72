/* The row page's workflow buttons (templates/_workflow.html): one comment box serves every
 * button, and a button whose transition needs a reason (退回、驳回 …) makes it required when it
 * is pressed, so the browser says so before anything is sent. The database checks again. */
(function () {
  "use strict";

  function start() {
    document.querySelectorAll("form.workflow-actions").forEach(function (form) {
      var comment = form.querySelector("textarea[name=comment]");
      form.querySelectorAll("button[name=target]").forEach(function (button) {
        button.addEventListener("click", function () {
          var needed = button.hasAttribute("data-comment-required");
          comment.required = needed;
          comment.setCustomValidity(needed && !comment.value.trim() ? "请填写" + button.textContent.trim() + "的意见（原因）" : "");
        });
      });
      comment.addEventListener("input", function () {
        comment.setCustomValidity("");
      });
      // A second click while the first is on its way would only be refused as stale.
      form.addEventListener("submit", function () {
        setTimeout(function () {
          form.querySelectorAll("button[name=target]").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
