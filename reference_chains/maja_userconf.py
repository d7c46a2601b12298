"""MAJA's user configuration folder (``-ucs``) in its real layout, as MAJA reads it
(orchestrator/launcher/app_handler.py): ``MAJAUserConfigSystem.xml`` and one ``MAJAUserConfig_<plugin>.xml`` per
plugin it loads. The files written here hold the elements of MAJA's schemas with the values of StartMaja's
userconf (threads, memory, strips, reference altitudes); ``check`` stops as MAJA stops when one is missing.
"""

from __future__ import annotations

from pathlib import Path

from hymotep.adapters import MAJA_USER_CONFIGURATION
from reference_chains.l2a import InputError

SYSTEM = """<?xml version="1.0" encoding="utf-8"?>
<Config xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://maja.fr">
  <Notes>
    <L2Note>Hesperides</L2Note>
    <L3Note>Hesperides</L3Note>
    <CheckToolsNote>Hesperides</CheckToolsNote>
  </Notes>
  <Computing>
    <NbThreads>4</NbThreads>
    <RAM>8096</RAM>
    <EnableL2ResolutionProcessing>true</EnableL2ResolutionProcessing>
    <Caching>
      <EnableCleaningCachingDirectoryBeforeProcessing>false</EnableCleaningCachingDirectoryBeforeProcessing>
      <EnableCleaningCachingDirectoryAfterProcessing>true</EnableCleaningCachingDirectoryAfterProcessing>
      <EnableCachingConvertReflectanceData>true</EnableCachingConvertReflectanceData>
    </Caching>
    <EnableCleaningTemporaryDirectory>true</EnableCleaningTemporaryDirectory>
  </Computing>
  <Processing>
    <CheckXMLFilesWithSchema>false</CheckXMLFilesWithSchema>
    <PreProcessing>
      <CleanInputZipFiles>false</CleanInputZipFiles>
    </PreProcessing>
    <PostProcessing>
      <ZipFiles>false</ZipFiles>
      <CleanFiles>false</CleanFiles>
    </PostProcessing>
  </Processing>
</Config>
"""
PLUGIN = """<?xml version="1.0" encoding="utf-8"?>
<Config xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://maja.fr">
  <Business>
    <ImageDivision method="strips">
      <NbStrips>
        <L2InitProcessing>{strips}</L2InitProcessing>
        <L2NominalProcessing>{strips}</L2NominalProcessing>
        <L2BackwardProcessing>{strips}</L2BackwardProcessing>
        <L3Processing>{strips}</L3Processing>
        <ChecktoolProcessing>{strips}</ChecktoolProcessing>
      </NbStrips>
    </ImageDivision>
    <L2CoarseResolution>240</L2CoarseResolution>
  </Business>
  <Algorithms>
    <GRID_Reference_Altitudes>
      <SOLH1>3000</SOLH1>
      <SOLHRef>4000</SOLHRef>
      <VIEHRef>3000</VIEHRef>
    </GRID_Reference_Altitudes>
    <Atmospheric_Absorption_Correction>
      <Use_Default_Constant_Ozone_Amount>true</Use_Default_Constant_Ozone_Amount>
    </Atmospheric_Absorption_Correction>
  </Algorithms>
</Config>
"""
STRIPS = {"SENTINEL2": 800, "SENTINEL2_MUSCATE": 500}


def write_user_configuration(folder: Path) -> Path:
    """The files of MAJA's user configuration that ``folder`` lacks (a site's own are kept); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in MAJA_USER_CONFIGURATION:
        path = folder / name
        if not path.exists():
            plugin = name.removeprefix("MAJAUserConfig_").removesuffix(".xml")
            path.write_text(SYSTEM if plugin == "MAJAUserConfigSystem" else PLUGIN.format(strips=STRIPS[plugin]))
    return folder


def check(folder: Path) -> None:
    """``InputError`` with MAJA's words when a file MAJA reads in ``folder`` is missing."""
    for name in MAJA_USER_CONFIGURATION:
        if not (folder / name).is_file():
            raise InputError(f"The User configuration file <{folder / name}> doesn't exist!")
