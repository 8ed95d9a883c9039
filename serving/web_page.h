// The small web page served at GET /: type text, pick a voice, hear it while it is made.
#pragma once

#include <string_view>

namespace cosyflow::serving {

std::string_view WebPageHtml();

}  // namespace cosyflow::serving
