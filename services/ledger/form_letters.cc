#include "services/ledger/form_letters.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "pdf/cover_page.h"
#include "pdf/text_page.h"

namespace utpost::ledger {
namespace {

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%d.%m.%Y %H:%M:%S UTC", t, absl::UTCTimeZone());
}

absl::StatusOr<v1::SendLetterRequest> Letter(const FormLetterFacts& facts, std::string title,
                                             std::string filename, pdf::TextPageInput page) {
  page.sender = pdf::SenderLabel(facts.municipality);
  UTPOST_ASSIGN_OR_RETURN(std::string pdf, pdf::MakeTextPage(page));
  v1::SendLetterRequest letter;
  *letter.mutable_recipient()->mutable_person() = facts.citizen;
  letter.set_title(std::move(title));
  letter.set_external_reference(facts.submission_id);
  v1::Document* document = letter.add_documents();
  document->set_filename(std::move(filename));
  document->set_media_type("application/pdf");
  document->set_content(std::move(pdf));
  letter.mutable_options()->set_channel_policy(v1::CHANNEL_POLICY_AUTO);
  return letter;
}

}  // namespace

absl::StatusOr<v1::SendLetterRequest> ReceiptLetter(const FormLetterFacts& facts) {
  pdf::TextPageInput page;
  page.heading = absl::StrCat("Kvittering: ", facts.form_title);
  page.paragraphs = {
      absl::StrCat("Vi har mottatt skjemaet ditt \"", facts.form_title, "\"."),
      absl::StrCat("Innsendings-ID: ", facts.submission_id),
      absl::StrCat("Mottatt: ", TimeText(facts.receipt_time)),
      "Ta vare på denne kvitteringen. Oppgi innsendings-ID-en hvis du kontakter oss om saken.",
  };
  return Letter(facts, absl::StrCat("Kvittering: ", facts.form_title), "kvittering.pdf",
                std::move(page));
}

absl::StatusOr<v1::SendLetterRequest> NoticeLetter(const FormLetterFacts& facts,
                                                   std::string_view reason) {
  pdf::TextPageInput page;
  page.heading = absl::StrCat("Skjemaet ditt er avvist: ", facts.form_title);
  page.paragraphs = {
      absl::StrCat("Skjemaet \"", facts.form_title, "\" som du sendte inn ",
                   TimeText(facts.receipt_time), ", er avvist."),
      absl::StrCat("Innsendings-ID: ", facts.submission_id),
      absl::StrCat("Begrunnelse: ", common::Av(reason)),
  };
  return Letter(facts, absl::StrCat("Skjema avvist: ", facts.form_title), "avvist.pdf",
                std::move(page));
}

}  // namespace utpost::ledger
