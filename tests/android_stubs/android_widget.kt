@file:Suppress("unused", "UNUSED_PARAMETER")

package android.widget

import android.content.Context
import android.view.View
import android.view.ViewGroup

open class TextView(context: Context) : View(context) {
    var text: CharSequence = ""
    var hint: CharSequence = ""
    fun append(text: CharSequence) {}
}

class EditText(context: Context) : TextView(context)

class Button(context: Context) : TextView(context)

class LinearLayout(context: Context) : ViewGroup(context) {
    var orientation: Int = 0

    companion object {
        const val VERTICAL = 1
    }
}
