// Word tables of the English normalizer: abbreviations, months, weekdays, measurement units,
// currencies, street types and US states.
#pragma once

#include <array>
#include <string_view>
#include <utility>

namespace cosyflow::text_normalizer {

using WordPair = std::pair<std::string_view, std::string_view>;

inline constexpr std::array<WordPair, 27> kEnWhitelist = {{
    {"Ph.D.", "PHD"},           {"Hon.", "honorable"}, {"Maj.", "Major"},
    {"Rev.", "Reverend"},       {"Dr.", "doctor"},     {"Mr.", "mister"},
    {"Mrs.", "misses"},         {"Ms.", "miss"},       {"Co.", "company"},
    {"Inc.", "incorporated"},   {"Ltd.", "limited"},   {"Jr.", "junior"},
    {"Sr.", "senior"},          {"Gen.", "General"},   {"Capt.", "Captain"},
    {"Col.", "Colonel"},        {"Lt.", "Lieutenant"}, {"Sgt.", "Sergeant"},
    {"Prof.", "Professor"},     {"Gov.", "Governor"},  {"Sen.", "Senator"},
    {"Rep.", "Representative"}, {"vs.", "versus"},     {"etc.", "et cetera"},
    {"e.g.", "for example"},    {"i.e.", "that is"},   {"Corp.", "corporation"},
}};

// Month spellings (full names and abbreviations) -> month name.
inline constexpr std::array<WordPair, 24> kEnMonths = {{
    {"january", "january"}, {"february", "february"}, {"march", "march"},
    {"april", "april"},     {"may", "may"},           {"june", "june"},
    {"july", "july"},       {"august", "august"},     {"september", "september"},
    {"october", "october"}, {"november", "november"}, {"december", "december"},
    {"sept", "september"},  {"jan", "january"},       {"feb", "february"},
    {"mar", "march"},       {"apr", "april"},         {"jun", "june"},
    {"jul", "july"},        {"aug", "august"},        {"sep", "september"},
    {"oct", "october"},     {"nov", "november"},      {"dec", "december"},
}};

inline constexpr std::array<std::string_view, 12> kEnMonthNames = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};

inline constexpr std::array<WordPair, 14> kEnWeekdays = {{
    {"Mon", "Monday"},
    {"Tue", "Tuesday"},
    {"Wed", "Wednesday"},
    {"Thu", "Thursday"},
    {"Fri", "Friday"},
    {"Sat", "Saturday"},
    {"Sun", "Sunday"},
    {"Tues", "Tuesday"},
    {"Thur", "Thursday"},
    {"Thurs", "Thursday"},
    {"Monday", "Monday"},
    {"Friday", "Friday"},
    {"Sunday", "Sunday"},
    {"Saturday", "Saturday"},
}};

// Unit symbol -> singular name; the plural adds "s" (irregular: feet, inches, ...).
struct EnUnit {
  std::string_view symbol;
  std::string_view singular;
  std::string_view plural;
};
inline constexpr std::array<EnUnit, 46> kEnUnits = {{
    {"km/h", "kilometer per hour", "kilometers per hour"},
    {"m/s", "meter per second", "meters per second"},
    {"cm²", "square centimeter", "square centimeters"},
    {"km²", "square kilometer", "square kilometers"},
    {"mm²", "square millimeter", "square millimeters"},
    {"m²", "square meter", "square meters"},
    {"m³", "cubic meter", "cubic meters"},
    {"cm³", "cubic centimeter", "cubic centimeters"},
    {"°C", "degree Celsius", "degrees Celsius"},
    {"°F", "degree Fahrenheit", "degrees Fahrenheit"},
    {"mph", "mile per hour", "miles per hour"},
    {"kph", "kilometer per hour", "kilometers per hour"},
    {"kg", "kilogram", "kilograms"},
    {"mg", "milligram", "milligrams"},
    {"μg", "microgram", "micrograms"},
    {"km", "kilometer", "kilometers"},
    {"cm", "centimeter", "centimeters"},
    {"mm", "millimeter", "millimeters"},
    {"μm", "micrometer", "micrometers"},
    {"nm", "nanometer", "nanometers"},
    {"ml", "milliliter", "milliliters"},
    {"mL", "milliliter", "milliliters"},
    {"lbs", "pound", "pounds"},
    {"lb", "pound", "pounds"},
    {"oz", "ounce", "ounces"},
    {"ft", "foot", "feet"},
    {"mi", "mile", "miles"},
    {"yd", "yard", "yards"},
    {"hrs", "hour", "hours"},
    {"hr", "hour", "hours"},
    {"min", "minute", "minutes"},
    {"sec", "second", "seconds"},
    {"ms", "millisecond", "milliseconds"},
    {"kHz", "kilohertz", "kilohertz"},
    {"MHz", "megahertz", "megahertz"},
    {"GHz", "gigahertz", "gigahertz"},
    {"Hz", "hertz", "hertz"},
    {"kW", "kilowatt", "kilowatts"},
    {"KB", "kilobyte", "kilobytes"},
    {"MB", "megabyte", "megabytes"},
    {"GB", "gigabyte", "gigabytes"},
    {"TB", "terabyte", "terabytes"},
    {"%", "percent", "percent"},
    {"m", "meter", "meters"},
    {"g", "gram", "grams"},
    {"s", "second", "seconds"},
}};

struct EnCurrency {
  std::string_view symbol;
  std::string_view singular;
  std::string_view plural;
  std::string_view minor_singular;  // hundredth of the unit (empty: none)
  std::string_view minor_plural;
  std::string_view nemo_plural;  // NeMo's name where it differs ("US$" -> "us dollars")
};
inline constexpr std::array<EnCurrency, 8> kEnCurrencies = {{
    {"US$", "dollar", "dollars", "cent", "cents", "us dollars"},
    {"A$", "australian dollar", "australian dollars", "cent", "cents", ""},
    {"C$", "canadian dollar", "canadian dollars", "cent", "cents", ""},
    {"$", "dollar", "dollars", "cent", "cents", ""},
    {"€", "euro", "euros", "cent", "cents", ""},
    {"£", "pound", "pounds", "penny", "pence", ""},
    {"¥", "yen", "yen", "", "", ""},
    {"₹", "rupee", "rupees", "paisa", "paise", ""},
}};

inline constexpr std::array<WordPair, 12> kEnStreetTypes = {{
    {"Expy", "Expressway"},
    {"St", "Street"},
    {"Ave", "Avenue"},
    {"Blvd", "Boulevard"},
    {"Rd", "Road"},
    {"Ln", "Lane"},
    {"Hwy", "Highway"},
    {"Pkwy", "Parkway"},
    {"Ct", "Court"},
    {"Pl", "Place"},
    {"Dr", "Drive"},
    {"Sq", "Square"},
}};

inline constexpr std::array<WordPair, 51> kEnStates = {{
    {"AL", "Alabama"},        {"AK", "Alaska"},        {"AZ", "Arizona"},
    {"AR", "Arkansas"},       {"CA", "California"},    {"CO", "Colorado"},
    {"CT", "Connecticut"},    {"DE", "Delaware"},      {"FL", "Florida"},
    {"GA", "Georgia"},        {"HI", "Hawaii"},        {"ID", "Idaho"},
    {"IL", "Illinois"},       {"IN", "Indiana"},       {"IA", "Iowa"},
    {"KS", "Kansas"},         {"KY", "Kentucky"},      {"LA", "Louisiana"},
    {"ME", "Maine"},          {"MD", "Maryland"},      {"MA", "Massachusetts"},
    {"MI", "Michigan"},       {"MN", "Minnesota"},     {"MS", "Mississippi"},
    {"MO", "Missouri"},       {"MT", "Montana"},       {"NE", "Nebraska"},
    {"NV", "Nevada"},         {"NH", "New Hampshire"}, {"NJ", "New Jersey"},
    {"NM", "New Mexico"},     {"NY", "New York"},      {"NC", "North Carolina"},
    {"ND", "North Dakota"},   {"OH", "Ohio"},          {"OK", "Oklahoma"},
    {"OR", "Oregon"},         {"PA", "Pennsylvania"},  {"RI", "Rhode Island"},
    {"SC", "South Carolina"}, {"SD", "South Dakota"},  {"TN", "Tennessee"},
    {"TX", "Texas"},          {"UT", "Utah"},          {"VT", "Vermont"},
    {"VA", "Virginia"},       {"WA", "Washington"},    {"WV", "West Virginia"},
    {"WI", "Wisconsin"},      {"WY", "Wyoming"},       {"DC", "District of Columbia"},
}};

}  // namespace cosyflow::text_normalizer
