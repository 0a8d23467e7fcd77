/* The compose form's upload with a progress bar (templates/compose.html).
   Without this script the form posts as any form does (the browser shows no
   progress). With it, the same multipart body (FormData keeps the fields'
   order: the token first, the files last, as the gateway reads them) goes by
   XMLHttpRequest, whose upload events move the bar; the gateway streams the
   files on to docs as they arrive either way. When the answer comes, the page
   goes where the form would have: the new document's page, or the form again
   with its error. */
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  if (!form || !bar || !status || !window.FormData || !window.XMLHttpRequest) { return; }
  var words = bar.dataset;

  function say(text) { status.textContent = text; }

  form.addEventListener("submit", function (event) {
    // The picker's button posts the fields elsewhere, without files: left alone.
    if (event.submitter && event.submitter.getAttribute("formaction")) { return; }
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      var percent = Math.floor(100 * e.loaded / e.total);
      bar.value = percent;
      say(words.sending.replace("{percent}", percent));
    });
    request.upload.addEventListener("load", function () { say(words.waiting); });
    request.addEventListener("load", function () {
      if (request.status < 400 && request.responseURL) {
        window.location.assign(request.responseURL);  // the document's page
        return;
      }
      // The form again, with the gateway's error: shown as the answer's page.
      var page = new DOMParser().parseFromString(request.responseText, "text/html");
      document.title = page.title;
      document.body.replaceWith(document.adoptNode(page.body));
    });
    request.addEventListener("error", function () { bar.hidden = true; say(words.failed); });
    bar.hidden = false;
    bar.value = 0;
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) {
      b.disabled = true;
    });
    request.send(new FormData(form));
  });
}());
