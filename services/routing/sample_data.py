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

from services.routing.directory import Directory
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


def national(provinces=63, districts_per_province=11, communes_per_district=15,
             on=SAMPLE_DATE):
    """A synthetic national directory before the reform, deterministic.

    Provinces ``000.00.00.H01`` ... (``Hpp``), districts and communes coded as
    the module docstring says. The defaults give 63 × (1 + 11 × 16) = 11,151
    agencies, close to the real 63 provinces, ~700 districts, ~10,600 communes.
    """
    if not 1 <= provinces <= 99 or not 0 <= districts_per_province <= 99 \
            or not 0 <= communes_per_district <= 999:
        raise ValidationFailed("national: at most 99 provinces, 99 districts each and 999 "
                               "communes per district fit the code scheme", field="provinces")
    directory = Directory()
    for p in range(1, provinces + 1):
        province = f"000.00.00.H{p:02d}"
        directory.create(province, f"UBND tỉnh mẫu {p:02d}", "province", None, on)
        for d in range(1, districts_per_province + 1):
            district = district_code(d, province)
            directory.create(district, f"UBND huyện mẫu {p:02d}.{d:02d}", "district",
                             province, on)
            for c in range(1, communes_per_district + 1):
                directory.create(commune_code(d, c, province),
                                 f"UBND xã mẫu {p:02d}.{d:02d}.{c:03d}", "commune", district, on)
    return directory
