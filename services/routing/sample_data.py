"""Sample agency directories: one province before and after the 2025 reform, and a national one.

The code scheme (mã định danh ``XXX.XX.XX.Ynn``, read right to left) used here:

- ``000.00.00.Ynn``: a province's People's Committee (UBND tỉnh), ``Ynn`` its
  top-level code (H41 is Nghệ An);
- ``000.00.SS.Ynn``: a department (sở) of that province, ``SS`` = 01, 02, ...
  (like ``000.00.18.G12``, a unit directly under a ministry);
- ``000.DD.00.Ynn``: a district (UBND huyện), ``DD`` = 01, 02, ...;
- ``CCC.DD.00.Ynn``: a commune of district ``DD`` (UBND xã), ``CCC`` = 001, ...;
- ``CCC.00.00.Ynn``: a commune directly under the province (no district), as
  every commune is after 1 July 2025; the communes created by the reform's
  mergers are numbered 001, 002, ... in that space.

The directory does not rely on this scheme (an agency keeps its code when it
moves); the scheme only keeps sample codes unique and readable.
"""

from datetime import date

from shared.directory import Directory
from shared.errors import ValidationFailed

SAMPLE_DATE = date(2020, 1, 1)
REFORM_DATE = date(2025, 7, 1)
PROVINCE = "000.00.00.H41"
PROVINCE_NAME = "UBND tỉnh Nghệ An (mẫu)"

DEPARTMENTS = ("Văn phòng UBND tỉnh", "Sở Nội vụ", "Sở Tài chính")
DISTRICTS = (
    ("Diễn Châu", ("Diễn Hoa", "Diễn Phong", "Diễn Kỷ", "Diễn Vạn")),
    ("Yên Thành", ("Bắc Thành", "Nam Thành", "Trung Thành", "Xuân Thành")),
    ("Quỳnh Lưu", ("Quỳnh Thạch", "Quỳnh Hậu", "Quỳnh Lâm", "Quỳnh Bảng")),
)


def district_code(district, province=PROVINCE):
    return f"000.{district:02d}.00.{province[-3:]}"


def commune_code(district, commune, province=PROVINCE):
    return f"{commune:03d}.{district:02d}.00.{province[-3:]}"


def sample_province(on=SAMPLE_DATE):
    """Nghệ An (sample): 3 departments, 3 districts, 4 communes in each: 19 agencies."""
    directory = Directory()
    directory.create(PROVINCE, PROVINCE_NAME, "province", None, on)
    for number, name in enumerate(DEPARTMENTS, start=1):
        directory.create(f"000.00.{number:02d}.H41", f"{name} Nghệ An", "department",
                         PROVINCE, on)
    for d, (district, communes) in enumerate(DISTRICTS, start=1):
        directory.create(district_code(d), f"UBND huyện {district}", "district", PROVINCE, on)
        for c, commune in enumerate(communes, start=1):
            directory.create(commune_code(d, c), f"UBND xã {commune}", "commune",
                             district_code(d), on)
    return directory


def apply_reform_2025(directory, on=REFORM_DATE):
    """The 2025 reform, as it applies to a directory shaped like the sample.

    For every province: each district is dissolved with no successor (the
    level is gone; a document cannot be addressed to it any more) and its
    communes move under the province in the same change; then the communes of
    each former district merge in pairs, in code order, into new codes
    ``NNN.00.00.Ynn``, so an old commune code resolves to the merged commune.
    An odd commune out stays as it is. Returns ``directory``.
    """
    for province in [a for a in directory.agencies(on) if a.level == "province"]:
        numbers = _free_commune_codes(directory, province.code)
        districts = [a for a in directory.children(province.code, on) if a.level == "district"]
        for district in districts:
            communes = [a for a in directory.children(district.code, on)
                        if a.level == "commune"]
            directory.dissolve(district.code, on, children_to=province.code)
            for i in range(0, len(communes) - 1, 2):
                pair = communes[i:i + 2]
                names = " – ".join(a.name.removeprefix("UBND xã ") for a in pair)
                directory.merge([a.code for a in pair], next(numbers), f"UBND xã {names}",
                                "commune", province.code, on)
    return directory


def _free_commune_codes(directory, province):
    for number in range(1, 1000):
        code = f"{number:03d}.00.00.{province[-3:]}"
        if code not in directory:
            yield code


# The 63 provinces and centrally run cities before the 2025 reform, in the
# order of their codes: Decision 20/2020/QĐ-TTg numbers them H01-H63 in
# alphabetical order (diacritics aside). Checked against the four codes seen
# in public edXML SDK examples and provincial services: H14 Cao Bằng,
# H20 Đồng Tháp, H29 TP Hồ Chí Minh, H41 Nghệ An; the others follow the order.
PROVINCES_2024 = (
    "tỉnh An Giang", "tỉnh Bà Rịa - Vũng Tàu", "tỉnh Bắc Giang", "tỉnh Bắc Kạn",
    "tỉnh Bạc Liêu", "tỉnh Bắc Ninh", "tỉnh Bến Tre", "tỉnh Bình Định", "tỉnh Bình Dương",
    "tỉnh Bình Phước", "tỉnh Bình Thuận", "tỉnh Cà Mau", "thành phố Cần Thơ",
    "tỉnh Cao Bằng", "thành phố Đà Nẵng", "tỉnh Đắk Lắk", "tỉnh Đắk Nông", "tỉnh Điện Biên",
    "tỉnh Đồng Nai", "tỉnh Đồng Tháp", "tỉnh Gia Lai", "tỉnh Hà Giang", "tỉnh Hà Nam",
    "thành phố Hà Nội", "tỉnh Hà Tĩnh", "tỉnh Hải Dương", "thành phố Hải Phòng",
    "tỉnh Hậu Giang", "thành phố Hồ Chí Minh", "tỉnh Hòa Bình", "tỉnh Hưng Yên",
    "tỉnh Khánh Hòa", "tỉnh Kiên Giang", "tỉnh Kon Tum", "tỉnh Lai Châu", "tỉnh Lâm Đồng",
    "tỉnh Lạng Sơn", "tỉnh Lào Cai", "tỉnh Long An", "tỉnh Nam Định", "tỉnh Nghệ An",
    "tỉnh Ninh Bình", "tỉnh Ninh Thuận", "tỉnh Phú Thọ", "tỉnh Phú Yên", "tỉnh Quảng Bình",
    "tỉnh Quảng Nam", "tỉnh Quảng Ngãi", "tỉnh Quảng Ninh", "tỉnh Quảng Trị",
    "tỉnh Sóc Trăng", "tỉnh Sơn La", "tỉnh Tây Ninh", "tỉnh Thái Bình", "tỉnh Thái Nguyên",
    "tỉnh Thanh Hóa", "thành phố Huế", "tỉnh Tiền Giang", "tỉnh Trà Vinh",
    "tỉnh Tuyên Quang", "tỉnh Vĩnh Long", "tỉnh Vĩnh Phúc", "tỉnh Yên Bái",
)

# Resolution 202/2025/QH15 (in force 12 June 2025; the new provinces' authorities
# from 1 July 2025): 63 provinces become 34. Each group merges into the first
# named, which continues under its code (an assumption: the axis's new codes
# were not read); the others retire with it as successor, so their codes
# resolve to it. The 11 provinces not listed are unchanged.
PROVINCE_MERGERS_2025 = (
    ("tỉnh Tuyên Quang", "tỉnh Hà Giang"),
    ("tỉnh Lào Cai", "tỉnh Yên Bái"),
    ("tỉnh Thái Nguyên", "tỉnh Bắc Kạn"),
    ("tỉnh Phú Thọ", "tỉnh Vĩnh Phúc", "tỉnh Hòa Bình"),
    ("tỉnh Bắc Ninh", "tỉnh Bắc Giang"),
    ("tỉnh Hưng Yên", "tỉnh Thái Bình"),
    ("thành phố Hải Phòng", "tỉnh Hải Dương"),
    ("tỉnh Ninh Bình", "tỉnh Hà Nam", "tỉnh Nam Định"),
    ("tỉnh Quảng Trị", "tỉnh Quảng Bình"),
    ("thành phố Đà Nẵng", "tỉnh Quảng Nam"),
    ("tỉnh Quảng Ngãi", "tỉnh Kon Tum"),
    ("tỉnh Gia Lai", "tỉnh Bình Định"),
    ("tỉnh Khánh Hòa", "tỉnh Ninh Thuận"),
    ("tỉnh Lâm Đồng", "tỉnh Đắk Nông", "tỉnh Bình Thuận"),
    ("tỉnh Đắk Lắk", "tỉnh Phú Yên"),
    ("thành phố Hồ Chí Minh", "tỉnh Bình Dương", "tỉnh Bà Rịa - Vũng Tàu"),
    ("tỉnh Đồng Nai", "tỉnh Bình Phước"),
    ("tỉnh Tây Ninh", "tỉnh Long An"),
    ("thành phố Cần Thơ", "tỉnh Sóc Trăng", "tỉnh Hậu Giang"),
    ("tỉnh Vĩnh Long", "tỉnh Bến Tre", "tỉnh Trà Vinh"),
    ("tỉnh Đồng Tháp", "tỉnh Tiền Giang"),
    ("tỉnh Cà Mau", "tỉnh Bạc Liêu"),
    ("tỉnh An Giang", "tỉnh Kiên Giang"),
)


def province_code(name):
    """The code of a province of ``PROVINCES_2024`` (by its name)."""
    return f"000.00.00.H{PROVINCES_2024.index(name) + 1:02d}"


def merge_provinces_2025(directory, on=REFORM_DATE):
    """The reform's province mergers, for the provinces of ``PROVINCES_2024``
    present in ``directory``: each group's continuing province takes the
    others' children; their codes resolve to it. Returns ``directory``."""
    for group in PROVINCE_MERGERS_2025:
        codes = [province_code(name) for name in group]
        present = [c for c in codes if c in directory and directory.get(c, on)]
        if len(present) > 1 and present[0] == codes[0]:
            directory.merge(present, codes[0], f"UBND {group[0]}", "province", None, on)
    return directory


def national(provinces=63, districts_per_province=11, communes_per_district=15,
             on=SAMPLE_DATE):
    """A synthetic national directory before the reform, deterministic.

    Provinces ``000.00.00.H01`` ... (``Hpp``) with the names of
    ``PROVINCES_2024``, districts and communes (synthetic names) coded as the
    module docstring says. The defaults give 63 × (1 + 11 × 16) = 11,151
    agencies, close to the real 63 provinces, ~700 districts, ~10,600 communes.
    """
    if not 1 <= provinces <= 99 or not 0 <= districts_per_province <= 99 \
            or not 0 <= communes_per_district <= 999:
        raise ValidationFailed("national: at most 99 provinces, 99 districts each and 999 "
                               "communes per district fit the code scheme", field="provinces")
    directory = Directory()
    for p in range(1, provinces + 1):
        province = f"000.00.00.H{p:02d}"
        name = f"UBND {PROVINCES_2024[p - 1]}" if p <= len(PROVINCES_2024) \
            else f"UBND tỉnh mẫu {p:02d}"
        directory.create(province, name, "province", None, on)
        for d in range(1, districts_per_province + 1):
            district = district_code(d, province)
            directory.create(district, f"UBND huyện mẫu {p:02d}.{d:02d}", "district",
                             province, on)
            for c in range(1, communes_per_district + 1):
                directory.create(commune_code(d, c, province),
                                 f"UBND xã mẫu {p:02d}.{d:02d}.{c:03d}", "commune", district, on)
    return directory
