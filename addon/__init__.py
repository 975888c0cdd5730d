# SPDX-License-Identifier: GPL-3.0-or-later
"""instyle: localized neural style transfer nodes for Blender's compositor.

Instance Mask, Instance Tracker, Neural Style and MRF Blend call the out-of-process instyle engine;
the engine writes EXR frames into a cache that the nodes' inner trees read. They run in the scene compositor
and, through Compositor modifiers, on Video Sequencer strips.
"""

import bpy

from . import (added_people, analyze, bake, engine_link, engine_ops, graph_setup, node_params, nodes, preferences,
               preview, render_hooks, saving, sequencer, style_previews, track_styles)

classes = (preferences.InstylePreferences, *track_styles.CLASSES, *added_people.CLASSES, *nodes.NODE_CLASSES,
           nodes.NODE_MT_instyle,
           bake.INSTYLE_OT_bake, analyze.INSTYLE_OT_analyze, graph_setup.INSTYLE_OT_add_chain,
           engine_ops.INSTYLE_OT_free_memory, sequencer.INSTYLE_OT_add_strip_chain)


def register():
    style_previews.load()
    for cls in nodes.NODE_CLASSES:
        node_params.declare(cls, style_previews.icon_id)
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.NODE_MT_add.append(nodes.add_menu_entry)
    bpy.types.SEQUENCER_MT_modifier_add.append(sequencer.add_menu_entry)
    render_hooks.register()
    saving.register()
    preview.register()


def unregister():
    preview.unregister()
    saving.unregister()
    render_hooks.unregister()
    bpy.types.SEQUENCER_MT_modifier_add.remove(sequencer.add_menu_entry)
    bpy.types.NODE_MT_add.remove(nodes.add_menu_entry)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
    style_previews.free()
    engine_link.shutdown()
