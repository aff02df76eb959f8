// Progressive enhancement of the survey form: "3 of 15 answered" next to the send button,
// announced politely to screen readers as it changes. The form works the same without it.
(function () {
  "use strict";
  function start() {
    var form = document.querySelector("form.survey[data-progress-template]");
    var status = document.getElementById("survey-progress");
    if (!form || !status) return;
    var fieldsets = form.querySelectorAll("fieldset");
    var template = form.getAttribute("data-progress-template");
    function update() {
      var answered = 0;
      for (var i = 0; i < fieldsets.length; i++) {
        if (fieldsets[i].querySelector("input[type=radio]:checked")) answered++;
      }
      status.textContent = template.replace("{answered}", String(answered));
    }
    form.addEventListener("change", update);
    update();
    status.hidden = false;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
